#pragma once
struct __half { unsigned short x; };
inline float __half2float(__half h) { _Float16 v; memcpy(&v, &h.x, 2); return (float)v; }
inline __half __float2half_rn(float f) { _Float16 v = (_Float16)f; __half h; memcpy(&h.x, &v, 2); return h; }
inline unsigned short __half_as_ushort(__half h) { return h.x; }
inline float ge_emu_half(unsigned short v, bool bf16) { return bf16 ? __bfloat162float(__nv_bfloat16{v}) : __half2float(__half{v}); }
inline unsigned short ge_emu_round(float v, bool bf16) { return bf16 ? __float2bfloat16_rn(v).x : __float2half_rn(v).x; }

// Embedding lookup: row t of out is row ids[t] of the table, copied as it is (bf16 bits). One block per token;
// the host checks every id against the vocabulary before the launch.
extern "C" __global__ void __launch_bounds__(256) embedding_gather(
    const unsigned short* __restrict__ table,   // [vocab, hidden]
    const int* __restrict__ ids,                // [rows]
    unsigned short* __restrict__ out,           // [rows, hidden]
    int hidden) {
    const long long src = (long long)ids[blockIdx.x] * hidden, dst = (long long)blockIdx.x * hidden;
    for (int c = threadIdx.x; c < hidden; c += blockDim.x) out[dst + c] = table[src + c];
}

// Placeholder; the bench work replaces it with the BenchmarkDotNet host-cost suite.
return 0;

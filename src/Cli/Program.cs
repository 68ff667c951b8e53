// Placeholder entry point; the CLI work replaces it with run | list | check | bench.
return 0;

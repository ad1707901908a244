// kilnc: placeholder until the CLI lands.
#include <cstdio>
int main() { std::puts("kilnc"); return 0; }

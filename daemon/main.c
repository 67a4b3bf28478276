#include <stdio.h>
int main(void) { fprintf(stderr, "ksmd: under construction\n"); return 1; }

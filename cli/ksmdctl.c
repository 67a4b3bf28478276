#include <stdio.h>
int main(void) { fprintf(stderr, "ksmdctl: under construction\n"); return 2; }

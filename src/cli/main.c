/* bulwark command line: dispatches to serve, init, config and audit. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "version") == 0) {
		printf("bulwark 0.1.0\n");
		return 0;
	}
	fprintf(stderr, "bulwark: unknown command '%s'\n", argv[1]);
	return 2;
}

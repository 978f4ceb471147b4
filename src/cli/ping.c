/* placeholder during development */
#include "cli/cli.h"
int cmd_ping(int argc, char **argv) { (void)argc; (void)argv; return 1; }

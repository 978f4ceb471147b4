/* ls — placeholder replaced below */
#include "cli/cli.h"
int cmd_ls(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

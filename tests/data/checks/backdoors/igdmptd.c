/* Model of the Netcore/Netis igdmptd daemon: UDP 53413, login with a fixed password,
 * then commands. */
#include <stdio.h>
#include <string.h>

#define IGD_PORT 53413

static const char version[] = "IGD MPT Interface daemon 1.0";

static const char *handle(const char *msg, int *logged_in)
{
    if (strcmp(msg, "netcore") == 0) {
        *logged_in = 1;
        return "Login successed!\r\n";
    }
    if (*logged_in && strcmp(msg, "?") == 0)
        return version;
    return "Login:";
}

int main(int argc, char **argv)
{
    int logged_in = 0;
    for (int i = 1; i < argc; i++)
        printf("%d %s\n", IGD_PORT, handle(argv[i], &logged_in));
    return 0;
}

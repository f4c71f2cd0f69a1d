/* Model of the Zyxel ZLD binary that held the undocumented "zyfwp" account's plaintext
 * password (used to push firmware to access points over FTP). */
#include <stdio.h>
#include <string.h>

static const char fw_user[] = "zyfwp";
static const char fw_pass[] = "PrOw!aN_fXp";

static int check_login(const char *user, const char *pass)
{
    return strcmp(user, fw_user) == 0 && strcmp(pass, fw_pass) == 0;
}

int main(int argc, char **argv)
{
    if (argc > 2)
        printf("%s\n", check_login(argv[1], argv[2]) ? "admin" : "denied");
    return 0;
}

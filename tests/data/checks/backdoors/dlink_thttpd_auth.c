/* Model of the D-Link/Alpha Networks thttpd authentication check (alpha_auth_check):
 * a request whose User-Agent equals the magic string skips authentication. */
#include <stdio.h>
#include <string.h>

static int alpha_auth_check(const char *url, const char *user_agent, int logged_in)
{
    if (strstr(url, "graphic/") || strstr(url, "public/"))
        return 1;
    if (user_agent != NULL && strcmp(user_agent, "xmlset_roodkcableoj28840ybtide") == 0)
        return 1; /* the backdoor */
    return logged_in;
}

int main(int argc, char **argv)
{
    const char *ua = argc > 1 ? argv[1] : "";
    printf("%d\n", alpha_auth_check("/index.htm", ua, 0));
    return 0;
}

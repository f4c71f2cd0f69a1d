/* Model of the Tenda W302R GoAhead httpd MfgThread(): a UDP service on port 7329 that
 * runs the command following the magic string "w302r_mfg". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MFG_PORT 7329

static void MfgThread(void)
{
    char buf[256], flag[16];
    struct sockaddr_in me = {0}, peer;
    socklen_t len = sizeof(peer);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    me.sin_family = AF_INET;
    me.sin_port = htons(MFG_PORT);
    if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0)
        return;
    ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&peer, &len);
    if (n < 14)
        return;
    buf[n] = 0;
    memcpy(flag, buf, 9);
    flag[9] = 0;
    if (strcmp(flag, "w302r_mfg") != 0)
        return;
    if (buf[10] == 'x')
        system(buf + 12); /* runs as root */
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--mfg") == 0)
        MfgThread();
    return 0;
}

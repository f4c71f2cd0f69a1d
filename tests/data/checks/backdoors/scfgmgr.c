/* Model of SerComm's scfgmgr: TCP 32764, messages start with the magic 0x53634d4d
 * ("ScMM"); command 1 dumps the configuration, 7 runs a shell command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define SCM_MAGIC 0x53634d4d
#define DEFAULT_REMOTE_PORT 32764

struct scfgmgr_header {
    unsigned int magic;
    int cmd;
    unsigned int len;
};

static int handle(const struct scfgmgr_header *h, const char *payload)
{
    if (h->magic != SCM_MAGIC)
        return -1;
    if (h->cmd == 7)
        return system(payload);
    return 0;
}

int main(int argc, char **argv)
{
    struct scfgmgr_header h = {0, 0, 0};
    openlog("scfgmgr", LOG_PID, LOG_DAEMON);
    if (argc > 2) {
        h.magic = (unsigned int)strtoul(argv[1], NULL, 0);
        h.cmd = 7;
        syslog(LOG_INFO, "port %d: %d", DEFAULT_REMOTE_PORT, handle(&h, argv[2]));
    }
    return 0;
}

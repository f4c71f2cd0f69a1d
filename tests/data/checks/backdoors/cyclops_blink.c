/* Model of the Cyclops Blink core component: the notable strings NCSC listed, used the
 * way the implant uses them (process-name masquerade, DNS over HTTPS, iptables, recon). */
#include <stdio.h>
#include <string.h>

static const char *names[] = {"[kworker/0:1]", "[kworker/1:1]"};

int main(int argc, char **argv)
{
    char buf[512];
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    strcpy(argv[0], names[argc & 1]);
    fputs("POST /dns-query HTTP/1.1\r\nHost: dns.google\r\n", stdout);
    snprintf(buf, sizeof buf, "iptables -I %s -p tcp --dport %d -j ACCEPT &>/dev/null",
             "INPUT", 443);
    puts(buf);
    snprintf(buf, sizeof buf, "iptables -D %s -p tcp --dport %d -j ACCEPT &>/dev/null",
             "INPUT", 443);
    puts(buf);
    printf("{\"ver\":\"%x\",\"mods\";[", 0x101);
    printf("uptime: %lu mem_size: %lu mem_free: %lu", 1UL, 2UL, 3UL);
    printf("disk_size: %lu disk_free: %lu", 4UL, 5UL);
    printf("hw: %02x:%02x:%02x:%02x:%02x:%02x", 1, 2, 3, 4, 5, 6);
    snprintf(buf, sizeof buf, "%s/214688dsf46", dir);
    puts(buf);
    snprintf(buf, sizeof buf, "%s/rootfs_cfg", dir);
    puts(buf);
    puts("/var/tmp/a.tmp");
    return 0;
}

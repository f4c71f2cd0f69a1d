/* Model of the FortiOS SSH keyboard-interactive handler for "Fortimanager_Access": the
 * expected response is SHA-1(12 zero bytes | challenge | secret | fixed suffix). */
#include <stdio.h>
#include <string.h>

static const char fmg_user[] = "Fortimanager_Access";
static const char fmg_secret[] = "FGTAbc11*xy+Qqz27";
static const unsigned char fmg_suffix[24] = {
    0xA3, 0x88, 0xBA, 0x2E, 0x42, 0x4C, 0xB0, 0x4A, 0x53, 0x79, 0x30, 0xC1,
    0x31, 0x07, 0xCC, 0x3F, 0xA1, 0x32, 0x90, 0x29, 0xA9, 0x81, 0x5B, 0x70};

/* stand-in for the SHA-1 update calls */
static unsigned feed(unsigned h, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n--)
        h = h * 31u + *b++;
    return h;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], fmg_user) == 0) {
        unsigned h = feed(0, argv[2], strlen(argv[2]));
        h = feed(h, fmg_secret, strlen(fmg_secret));
        h = feed(h, fmg_suffix, sizeof(fmg_suffix));
        printf("%08x\n", h);
    }
    return 0;
}

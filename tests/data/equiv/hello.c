/* spyproof equiv test program: built twice in different directories, it must come out
 * equivalent (only build-id, debug info and build paths differ). */
#include <stdio.h>

int counter = 42;
static const char greeting[] = "hello from the test firmware";

int main(int argc, char **argv)
{
    (void)argv;
    printf("%s %d\n", greeting, counter + argc);
    return 0;
}

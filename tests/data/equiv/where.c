/* __FILE__ puts the build path into .rodata: program-visible data, never normalised. */
#include <stdio.h>

int main(void)
{
    puts(__FILE__);
    return 0;
}

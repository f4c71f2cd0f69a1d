/* The function prologue that detect.sh (oss-security, 2024-03-29) looks for in a
 * backdoored liblzma, assembled as real x86-64 machine code in .text. */
int liblzma_hook(int flags, void *a, void *b, void *c, void *d, void *e);
__asm__(".text\n.globl liblzma_hook\n.type liblzma_hook,@function\nliblzma_hook:\n"
        "  endbr64\n  push %rbp\n  mov %rsi,%rbp\n  mov %r9,%rsi\n  push %rbx\n"
        "  mov %edi,%ebx\n  and $0x80000000,%edi\n  sub $0x28,%rsp\n"
        "  mov %rdx,0x18(%rsp)\n  mov %rcx,0x10(%rsp)\n"
        "  add $0x28,%rsp\n  pop %rbx\n  pop %rbp\n  xor %eax,%eax\n  ret\n"
        ".size liblzma_hook,.-liblzma_hook\n");

int main(void)
{
    return liblzma_hook(0, 0, 0, 0, 0, 0);
}

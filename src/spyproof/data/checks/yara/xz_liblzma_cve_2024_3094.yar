// xz-utils 5.6.0 and 5.6.1 release tarballs (CVE-2024-3094), disclosed by Andres Freund on
// oss-security on 2024-03-29. A modified build-to-host.m4 extracted an object file hidden
// in tests/files/bad-3-corrupt_lzma2.xz and good-large_compressed.lzma and linked it into
// liblzma (x86-64 glibc builds), hooking RSA_public_decrypt in sshd through IFUNC.
// Byte patterns: the function signature from detect.sh (Vegard Nossum, attached to the
// disclosure) and the injected-code sequences of Florian Roth's published rules
// (Neo23x0/signature-base yara/bkdr_xz_util_cve_2024_3094.yar).

rule xz_liblzma_backdoor_code
{
    meta:
        id = "xz-liblzma-backdoor-code"
        title = "Backdoored liblzma code from xz-utils 5.6.0/5.6.1"
        severity = "critical"
        cve = "CVE-2024-3094"
        source = "https://www.openwall.com/lists/oss-security/2024/03/29/4"
        description = "The ELF file holds the code injected into liblzma by the xz-utils 5.6.0/5.6.1 release tarballs; loaded into sshd (through libsystemd) it lets the holder of the attacker's key run commands before authentication."
        clause = "NS-4"

    strings:
        $detect_sh = { F3 0F 1E FA 55 48 89 F5 4C 89 CE 53 89 FB 81 E7 00 00 00 80 48 83 EC 28 48 89 54 24 18 48 89 4C 24 10 }
        $op1 = { 48 8D 7C 24 08 F3 AB 48 8D 44 24 08 48 89 D1 4C 89 C7 48 89 C2 E8 ?? ?? ?? ?? 89 C2 }
        $op2 = { 31 C0 49 89 FF B9 16 00 00 00 4D 89 C5 48 8D 7C 24 48 4D 89 CE F3 AB 48 8D 44 24 48 }
        $op3 = { 4D 8B 6C 24 08 45 8B 3C 24 4C 8B 63 10 89 85 78 F1 FF FF 31 C0 83 BD 78 F1 FF FF 00 F3 AB 79 07 }

    condition:
        uint32(0) == 0x464C457F and ($detect_sh or all of ($op*))
}

rule xz_backdoor_build_script
{
    meta:
        id = "xz-backdoor-build-script"
        title = "xz-utils 5.6.0/5.6.1 backdoor build script"
        severity = "critical"
        cve = "CVE-2024-3094"
        source = "https://www.openwall.com/lists/oss-security/2024/03/29/4"
        description = "The file holds the build-script stage that unpacks the CVE-2024-3094 payload from the disguised xz test files; a tree or build that contains it produced (or can produce) a backdoored liblzma."
        clause = "NS-4"

    strings:
        $stage0 = "/bad-3-corrupt_lzma2.xz | tr " ascii
        $stage1 = "/tests/files/good-large_compressed.lzma|eval $i|tail -c +31265|" ascii
        $eval = "eval $zrKcKQ" ascii

    condition:
        any of them
}

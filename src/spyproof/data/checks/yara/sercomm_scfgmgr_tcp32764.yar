// SerComm-built routers and gateways (Linksys WAG200G and others, Netgear DG834/DGN series,
// Cisco WAP4410N/RVS4000 ...), found by Eloi Vanderbeken in 2013/2014: the scfgmgr service
// listens on TCP 32764 and, for messages starting with the magic 0x53634D4D ("ScMM";
// "MMcS" as little-endian bytes), dumps or sets the configuration (passwords included)
// and runs shell commands, without authentication. The magic is a code constant: a literal
// ("MMcS"/"ScMM") on x86/ARM, a lui/ori pair (0x5363, 0x4D4D) on MIPS.

rule sercomm_scfgmgr_backdoor
{
    meta:
        id = "sercomm-scfgmgr-tcp32764"
        title = "SerComm 'scfgmgr' TCP 32764 configuration backdoor"
        severity = "high"
        cve = "CVE-2014-0659"
        source = "https://github.com/elvanderb/TCP-32764"
        description = "The scfgmgr service answers unauthenticated 'ScMM' messages on TCP 32764 with the full configuration (administrator and Wi-Fi passwords) and runs any shell command sent to it."
        clause = "NS-4"

    strings:
        $name = "scfgmgr" ascii
        $magic_le = "MMcS" ascii
        $magic_be = "ScMM" ascii
        $mips_be = { 3C ?? 53 63 [0-16] (34|35|36|37) ?? 4D 4D }
        $mips_le = { 63 53 ?? 3C [0-16] 4D 4D ?? (34|35|36|37) }

    condition:
        $name and any of ($magic_le, $magic_be, $mips_be, $mips_le)
}

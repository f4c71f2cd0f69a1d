// Netcore (China) / Netis (elsewhere) routers, firmware before August 2014: the igdmptd
// daemon ("IGD MPT Interface daemon 1.0") listens on UDP 53413 on the WAN side, logs in
// with the hard-coded password "netcore" and then runs commands and moves files as root.
// Trend Micro, "Netis Routers Leave Wide Open Backdoor" (Tim Yeh, 2014).

rule netis_igdmptd_backdoor
{
    meta:
        id = "netis-igdmptd-udp53413"
        title = "Netcore/Netis 'igdmptd' UDP 53413 backdoor"
        severity = "critical"
        cve = "CVE-2025-34117"
        source = "https://blog.trendmicro.com/trendlabs-security-intelligence/netis-routers-leave-wide-open-backdoor/"
        description = "The IGD MPT Interface daemon listens on UDP 53413, reachable from the Internet, and after a login with the password hard-coded in every device runs commands and uploads or downloads files as root."
        clause = "NS-4"
        mask = "pw"

    strings:
        $banner = "IGD MPT Interface daemon" ascii
        $pw = "netcore" ascii fullword
        $login = "Login successed!" ascii

    condition:
        $banner or ($pw and $login)
}

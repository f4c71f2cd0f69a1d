// Cyclops Blink, Sandworm's modular implant for WatchGuard Firebox (and later ASUS) devices,
// successor of VPNFilter. NCSC/CISA/FBI/NSA joint advisory, 2022-02-23; strings from the
// NCSC malware analysis report's rule APT_Sandworm_CyclopsBlink_notable_strings.

rule cyclops_blink_implant
{
    meta:
        id = "cyclops-blink-implant"
        title = "Cyclops Blink implant (Sandworm)"
        severity = "critical"
        cve = ""
        source = "https://www.ncsc.gov.uk/news/joint-advisory-shows-new-sandworm-malware-cyclops-blink-replaces-vpnfilter"
        description = "The ELF file carries the notable strings of Cyclops Blink, a state-sponsored implant that survives firmware updates, opens firewall ports for its command-and-control traffic and downloads, uploads and runs code on network devices."
        clause = "NS-4"

    strings:
        $proc_name1 = "[kworker/0:1]" ascii
        $proc_name2 = "[kworker/1:1]" ascii
        $dns_query = "POST /dns-query HTTP/1.1\x0d\x0aHost: dns.google\x0d\x0a" ascii
        $iptables1 = "iptables -I %s -p tcp --dport %d -j ACCEPT &>/dev/null" ascii
        $iptables2 = "iptables -D %s -p tcp --dport %d -j ACCEPT &>/dev/null" ascii
        $sys_recon1 = "{\"ver\":\"%x\",\"mods\";[" ascii
        $sys_recon2 = "uptime: %lu mem_size: %lu mem_free: %lu" ascii
        $sys_recon3 = "disk_size: %lu disk_free: %lu" ascii
        $sys_recon4 = "hw: %02x:%02x:%02x:%02x:%02x:%02x" ascii
        $testpath = "%s/214688dsf46" ascii
        $confpath = "%s/rootfs_cfg" ascii
        $downpath = "/var/tmp/a.tmp" ascii

    condition:
        uint32(0) == 0x464C457F and 8 of them
}

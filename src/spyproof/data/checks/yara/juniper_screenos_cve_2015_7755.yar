// Juniper ScreenOS 6.3.0r17-6.3.0r20: unauthorized code added a master password that works
// with any user name over SSH and telnet. Fox-IT and Rapid7 found the password within hours
// of Juniper's advisory (JSA10713): a string chosen to look like a debug format string.

rule juniper_screenos_master_password
{
    meta:
        id = "juniper-screenos-master-password"
        title = "Juniper ScreenOS master-password backdoor"
        severity = "critical"
        cve = "CVE-2015-7755"
        source = "https://blog.rapid7.com/2015/12/20/cve-2015-7755-juniper-screenos-authentication-backdoor"
        description = "The authentication code accepts one hard-coded password for every account over SSH and telnet, giving anyone who knows it an administrator shell on the firewall."
        clause = "NS-4"
        mask = "pw"

    strings:
        $pw = "<<< %s(un='%s') = %u" ascii

    condition:
        $pw
}

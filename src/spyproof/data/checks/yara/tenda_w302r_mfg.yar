// Tenda W302R / W330R (and rebrands such as Medialink MWN-WAPR150N) manufacturing backdoor,
// 2013. The modified GoAhead httpd starts MfgThread(), which listens on UDP 7329 and runs any
// command in a packet that starts with the magic string "w302r_mfg" (compared with strcmp).

rule tenda_w302r_mfg_backdoor
{
    meta:
        id = "tenda-w302r-mfg-udp7329"
        title = "Tenda 'w302r_mfg' UDP 7329 command backdoor"
        severity = "critical"
        cve = ""
        source = "http://www.devttys0.com/2013/10/from-china-with-love/"
        description = "The web server of Tenda W302R/W330R routers runs a hidden UDP service on port 7329 that executes, as root and without authentication, any command sent after the magic string 'w302r_mfg'."
        clause = "NS-4"

    strings:
        $magic = "w302r_mfg" ascii fullword

    condition:
        $magic
}

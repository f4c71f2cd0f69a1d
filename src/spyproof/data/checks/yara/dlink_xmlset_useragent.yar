// D-Link / Alpha Networks web-server authentication bypass ("joel backdoor"), 2013.
// Craig Heffner found that thttpd-alphanetworks skips authentication when the HTTP
// User-Agent is the literal string below (read backwards: "edit by 04882 joel backdoor").
// The string is compared with strcmp() in the web server and used by /bin/xmlsetc.

rule dlink_xmlset_useragent_backdoor
{
    meta:
        id = "dlink-xmlset-useragent"
        title = "D-Link/Alpha Networks 'xmlset_roodkcableoj28840ybtide' User-Agent backdoor"
        severity = "critical"
        cve = "CVE-2013-6026"
        source = "http://www.devttys0.com/2013/10/reverse-engineering-a-d-link-backdoor/"
        description = "A web server that grants administrator access to any request whose User-Agent is 'xmlset_roodkcableoj28840ybtide' needs no password: anyone who can reach the web interface controls the device (DIR-100, DIR-120, DI-524, DI-604 and rebrands)."
        clause = "NS-4"

    strings:
        $ua = "xmlset_roodkcableoj28840ybtide" ascii

    condition:
        $ua
}

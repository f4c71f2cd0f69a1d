// Zyxel USG / ATP / VPN / USG FLEX firewalls (ZLD V4.60) and NXC AP controllers (V6.00-6.10),
// 2020. EYE found an undocumented administrator account "zyfwp" whose password is stored in
// plaintext in a firmware binary; it logs in over SSH and the web interface.

rule zyxel_zyfwp_hardcoded_account
{
    meta:
        id = "zyxel-zyfwp-account"
        title = "Zyxel undocumented 'zyfwp' administrator account"
        severity = "critical"
        cve = "CVE-2020-29583"
        source = "https://www.eyecontrol.nl/blog/undocumented-user-account-in-zyxel-products.html"
        description = "An undocumented account with administrator rights and a fixed plaintext password ships in the firmware; the owner cannot change or disable it, so anyone who knows it can log in over SSH or the web interface."
        clause = "NS-4"
        mask = "pw"

    strings:
        $pw = "PrOw!aN_fXp" ascii
        // the account in a passwd/shadow-style file
        $account = /\bzyfwp:/

    condition:
        $pw or $account
}

// Cisco IOS XE web UI, October 2023 (CVE-2023-20198 to create a privilege-15 account,
// CVE-2023-20273 to write the implant). Talos: the implant is an nginx configuration file,
// /usr/binos/conf/nginx-conf/cisco_service.conf, whose Lua handler on
// /webui/logoutconfirm.html answers 'logon_hash' requests and runs the request body as a
// system ('subsystem') or IOS ('iox') command chosen by 'common_type'. The attackers'
// accounts were named cisco_tac_admin, cisco_support and (later) cisco_sys_manager.

rule cisco_iosxe_badcandy_implant
{
    meta:
        id = "cisco-iosxe-badcandy-implant"
        title = "Cisco IOS XE web UI implant (BadCandy) in the nginx configuration"
        severity = "critical"
        cve = "CVE-2023-20198"
        source = "https://blog.talosintelligence.com/active-exploitation-of-cisco-ios-xe-software/"
        description = "An nginx/Lua handler on /webui/logoutconfirm.html that reads 'logon_hash' and 'common_type' is the implant planted through CVE-2023-20198/CVE-2023-20273: it runs arbitrary system or IOS commands for whoever knows its magic value."
        clause = "NS-4"

    strings:
        $path = "/webui/logoutconfirm.html" ascii
        $hash = "logon_hash" ascii
        $type = "common_type" ascii

    condition:
        all of them
}

rule cisco_iosxe_implant_accounts
{
    meta:
        id = "cisco-iosxe-implant-accounts"
        title = "Cisco IOS XE privilege-15 account created by the CVE-2023-20198 attackers"
        severity = "high"
        cve = "CVE-2023-20198"
        source = "https://blog.talosintelligence.com/active-exploitation-of-cisco-ios-xe-software/"
        description = "A privilege-15 local user named cisco_tac_admin, cisco_support or cisco_sys_manager is the account the CVE-2023-20198 attackers created; Cisco creates no such account, and it survives a reboot that removes the implant."
        clause = "NS-4"

    strings:
        $account = /username[ \t]+cisco_(tac_admin|support|sys_manager)[ \t]+privilege[ \t]+15\b/

    condition:
        $account
}

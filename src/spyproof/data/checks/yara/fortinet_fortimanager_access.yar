// FortiOS 4.1.0-4.3.16 and 5.0.0-5.0.7 (also FortiAnalyzer, FortiSwitch, FortiCache),
// disclosed on Full Disclosure in January 2016 (Fortinet FG-IR-16-001). SSH keyboard-
// interactive login as "Fortimanager_Access" succeeds with a response derived from the
// server challenge and the fixed secret "FGTAbc11*xy+Qqz27" plus a fixed 24-byte suffix.

rule fortinet_fortimanager_access_backdoor
{
    meta:
        id = "fortinet-fortimanager-access"
        title = "FortiOS 'Fortimanager_Access' SSH challenge-response backdoor"
        severity = "critical"
        cve = "CVE-2016-1909"
        source = "https://seclists.org/fulldisclosure/2016/Jan/26"
        description = "The SSH server accepts the undocumented account 'Fortimanager_Access' with a response computed from a secret hard-coded in every device, giving administrator access to anyone who knows it (Fortinet advisory FG-IR-16-001)."
        clause = "NS-4"
        mask = "pw salt"

    strings:
        $pw = "FGTAbc11*xy+Qqz27" ascii
        $user = "Fortimanager_Access" ascii
        // the fixed bytes hashed after the secret (SHA-1 update in the published exploit)
        $salt = { A3 88 BA 2E 42 4C B0 4A 53 79 30 C1 31 07 CC 3F A1 32 90 29 A9 81 5B 70 }

    condition:
        $pw or ($user and $salt)
}

rule Filescan_Test_EICAR : test malware
{
    meta:
        description = "EICAR anti-virus test file"
        severity = "high"
        category = "malware"
        title = "EICAR test file (yara-cli golden rules)"
    strings:
        $eicar = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
        $sig = { 58 35 4F 21 50 25 40 41 50 }
    condition:
        any of them
}

rule Filescan_Test_Newline_Marker
{
    meta:
        description = "a test marker spanning a line break"
        severity = "low"
        category = "suspicious"
    strings:
        $nl = /marker\nline two: \S+/
    condition:
        $nl
}

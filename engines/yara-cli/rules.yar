/*
  The yara-cli engine's rules (a deliberately small set: the engine exists to prove that a tool
  whose output is foreign to filescan is read through its catalogue mapping). Strings that would
  make this file itself look like a test file are written as hex.
*/
rule eicar_test_file
{
    meta:
        severity = "high"
        category = "malware"
        title = "EICAR anti-virus test file"
    strings:
        $eicar = { 58 35 4F 21 50 25 40 41 50 5B 34 5C 50 5A 58 35 34 28 50 5E 29 37 43 43 29 37 7D
                   24 45 49 43 41 52 2D 53 54 41 4E 44 41 52 44 2D 41 4E 54 49 56 49 52 55 53 2D
                   54 45 53 54 2D 46 49 4C 45 21 24 48 2B 48 2A }
    condition:
        $eicar
}

rule filescan_test_marker
{
    meta:
        severity = "medium"
        category = "suspicious"
        title = "filescan engine test marker"
    strings:
        $marker = "FILESCAN-ENGINE-TEST-MARKER"
    condition:
        $marker
}

rule pdf_javascript
{
    meta:
        severity = "medium"
        category = "pdf-active-content"
        title = "PDF with JavaScript"
    strings:
        $pdf = "%PDF-"
        $js = "/JavaScript"
    condition:
        $pdf at 0 and $js
}

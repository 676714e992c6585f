/*
  Suspicious script idioms: encoded PowerShell, download cradles, LOLBin downloads.
*/
rule script_powershell_encoded_command
{
    meta:
        category = "suspicious-script"
        severity = "medium"
        title = "PowerShell with a long encoded command"
    strings:
        $enc = /powershell(\.exe)?[^\r\n]{0,100}[ \t][\-\/](e|ec|enc|encodedcommand)[ \t]{1,8}[A-Za-z0-9+\/=]{100}/ nocase
    condition:
        $enc
}

rule script_powershell_download_cradle
{
    meta:
        category = "suspicious-script"
        severity = "high"
        title = "PowerShell download-and-execute cradle"
    strings:
        $iex = /(IEX|Invoke-Expression)[ \t]{0,8}\(?[ \t]{0,8}\(?[ \t]{0,8}New-Object[ \t]{1,8}(System\.)?Net\.WebClient\)?[ \t]{0,8}\)?\.Download(String|File|Data)/ nocase
    condition:
        $iex
}

rule script_lolbin_download
{
    meta:
        category = "suspicious-script"
        severity = "medium"
        title = "Living-off-the-land binary used to download"
    strings:
        $certutil = /certutil(\.exe)?[ \t][^\r\n]{0,80}-urlcache[^\r\n]{0,80}https?:\/\// nocase
        $bitsadmin = /bitsadmin(\.exe)?[ \t][^\r\n]{0,40}\/transfer[^\r\n]{0,120}https?:\/\// nocase
        $regsvr32 = /regsvr32(\.exe)?[ \t][^\r\n]{0,60}\/i:https?:\/\// nocase
        $mshta = /mshta(\.exe)?[ \t]{1,8}["']?(https?:\/\/|vbscript:|javascript:)/ nocase
    condition:
        any of them
}

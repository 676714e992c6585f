/*
  Web shells: server-side code that runs what a request sends. Patterns named $ctx_* only give
  context to the condition; the scanner reports findings for the other patterns.
*/
rule webshell_php_eval_request
{
    meta:
        category = "webshell"
        severity = "high"
        title = "PHP code evaluating request input"
    strings:
        $eval_decode = /\b(eval|assert)[ \t]{0,8}\([ \t]{0,8}@?(base64_decode|gzinflate|gzuncompress|str_rot13|gzdecode)[ \t]{0,8}\([ \t]{0,8}@?\$_(POST|GET|REQUEST|COOKIE)/ nocase
        $eval_direct = /\b(eval|assert)[ \t]{0,8}\([ \t]{0,8}@?\$_(POST|GET|REQUEST|COOKIE)\[/ nocase
        $exec_direct = /\b(system|passthru|shell_exec|popen|proc_open|pcntl_exec)[ \t]{0,8}\([ \t]{0,8}@?\$_(POST|GET|REQUEST|COOKIE)\[/ nocase
    condition:
        any of them
}

rule webshell_aspx_process_start
{
    meta:
        category = "webshell"
        severity = "high"
        title = "ASP.NET page starting a process from request input"
    strings:
        $ctx_page = /<%@[ \t]{0,8}Page[ \t]/ nocase
        $ctx_request = /Request(\.Form|\.QueryString|\.Params)?\[/
        $start = /(System\.Diagnostics\.)?Process\.Start[ \t]{0,8}\(/
        $psi = "ProcessStartInfo("
    condition:
        $ctx_page and $ctx_request and ($start or $psi)
}

rule webshell_jsp_runtime_exec
{
    meta:
        category = "webshell"
        severity = "high"
        title = "JSP running a command from a request parameter"
    strings:
        $exec = /Runtime\.getRuntime\(\)\.exec\([ \t]{0,8}request\.getParameter\(/
    condition:
        $exec
}

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
        // PHP function names are case-insensitive, superglobals are not: the names are spelled as
        // character classes rather than with nocase, so YARA-X anchors on the literal "$_POST" etc.
        // (nocase multiplies atoms and slows the whole rule set; see yara_rules.RuleSet).
        $eval_decode = /\b([Ee][Vv][Aa][Ll]|[Aa][Ss][Ss][Ee][Rr][Tt])[ \t]{0,8}\([ \t]{0,8}@?([Bb][Aa][Ss][Ee]64_[Dd][Ee][Cc][Oo][Dd][Ee]|[Gg][Zz][Ii][Nn][Ff][Ll][Aa][Tt][Ee]|[Gg][Zz][Uu][Nn][Cc][Oo][Mm][Pp][Rr][Ee][Ss][Ss]|[Ss][Tt][Rr]_[Rr][Oo][Tt]13|[Gg][Zz][Dd][Ee][Cc][Oo][Dd][Ee])[ \t]{0,8}\([ \t]{0,8}@?\$_(POST|GET|REQUEST|COOKIE)/
        $eval_direct = /\b([Ee][Vv][Aa][Ll]|[Aa][Ss][Ss][Ee][Rr][Tt])[ \t]{0,8}\([ \t]{0,8}@?\$_(POST|GET|REQUEST|COOKIE)\[/
        $exec_direct = /\b([Ss][Yy][Ss][Tt][Ee][Mm]|[Pp][Aa][Ss][Ss][Tt][Hh][Rr][Uu]|[Ss][Hh][Ee][Ll][Ll]_[Ee][Xx][Ee][Cc]|[Pp][Oo][Pp][Ee][Nn]|[Pp][Rr][Oo][Cc]_[Oo][Pp][Ee][Nn]|[Pp][Cc][Nn][Tt][Ll]_[Ee][Xx][Ee][Cc])[ \t]{0,8}\([ \t]{0,8}@?\$_(POST|GET|REQUEST|COOKIE)\[/
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
        $ctx_page = /<%@[ \t]{0,8}[Pp][Aa][Gg][Ee][ \t]/
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

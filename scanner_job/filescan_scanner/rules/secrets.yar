/*
  Credentials and keys. Evidence for category "secret" is redacted by the scanner (prefix + length).
  Every regex starts with a literal atom and has a bounded length (the scanner's chunk overlap).
*/
rule secret_aws_access_key_id
{
    meta:
        category = "secret"
        severity = "high"
        title = "AWS access key id"
    strings:
        $key = /\b(AKIA|ASIA)[A-Z0-9]{16}\b/
    condition:
        $key
}

rule secret_aws_secret_access_key
{
    meta:
        category = "secret"
        severity = "high"
        title = "AWS secret access key assignment"
    strings:
        $assign = /aws_secret_access_key["']?[ \t]{0,8}[=:][ \t]{0,8}["']?[A-Za-z0-9\/+]{40}([^A-Za-z0-9\/+=]|$)/ nocase
    condition:
        $assign
}

rule secret_private_key_block
{
    meta:
        category = "secret"
        severity = "high"
        title = "Private key block"
    strings:
        $pem = /-----BEGIN (RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----/
    condition:
        $pem
}

rule secret_github_token
{
    meta:
        category = "secret"
        severity = "high"
        title = "GitHub token"
    strings:
        $classic = /\bgh[opsur]_[A-Za-z0-9]{36}\b/
        $fine_grained = /\bgithub_pat_[A-Za-z0-9_]{82}\b/
    condition:
        any of them
}

rule secret_slack_token
{
    meta:
        category = "secret"
        severity = "high"
        title = "Slack token"
    strings:
        $token = /\bxox[baprs]-[0-9]{6,15}-[0-9A-Za-z\-]{6,80}/
    condition:
        $token
}

rule secret_stripe_live_key
{
    meta:
        category = "secret"
        severity = "high"
        title = "Stripe live secret key"
    strings:
        $key = /\bsk_live_[0-9A-Za-z]{24,99}/
    condition:
        $key
}

rule secret_google_api_key
{
    meta:
        category = "secret"
        severity = "medium"
        title = "Google API key"
    strings:
        $key = /\bAIza[0-9A-Za-z_\-]{35}/
    condition:
        $key
}

rule secret_jwt
{
    meta:
        category = "secret"
        severity = "medium"
        title = "JSON Web Token"
    strings:
        $jwt = /\beyJ[A-Za-z0-9_\-]{8,800}\.eyJ[A-Za-z0-9_\-]{8,2000}\.[A-Za-z0-9_\-]{0,800}/
    condition:
        $jwt
}

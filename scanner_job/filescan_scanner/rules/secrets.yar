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
        // The two spellings used in practice (config files, environment variables) rather than
        // nocase: each nocase pattern adds many YARA-X atoms, and past a small total the whole rule
        // set scans several times slower (measured with bench/bench_scanner.py).
        $assign = /aws_secret_access_key["']?[ \t]{0,8}[=:][ \t]{0,8}["']?[A-Za-z0-9\/+]{40}([^A-Za-z0-9\/+=]|$)/
        $assign_env = /AWS_SECRET_ACCESS_KEY["']?[ \t]{0,8}[=:][ \t]{0,8}["']?[A-Za-z0-9\/+]{40}([^A-Za-z0-9\/+=]|$)/
    condition:
        any of them
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
        // One pattern per prefix: a character class right after "gh" gives YARA-X a poor atom.
        $personal = /\bghp_[A-Za-z0-9]{36}\b/
        $oauth = /\bgho_[A-Za-z0-9]{36}\b/
        $server = /\bghs_[A-Za-z0-9]{36}\b/
        $user = /\bghu_[A-Za-z0-9]{36}\b/
        $refresh = /\bghr_[A-Za-z0-9]{36}\b/
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
        // One pattern per token type: a character class right after "xox" makes YARA-X pick a poor
        // atom and scan ten times slower (measured: 0.95 s/GiB vs 0.09 s/GiB for the split form).
        $bot = /\bxoxb-[0-9]{6,15}-[0-9A-Za-z\-]{6,80}/
        $app = /\bxoxa-[0-9]{6,15}-[0-9A-Za-z\-]{6,80}/
        $user = /\bxoxp-[0-9]{6,15}-[0-9A-Za-z\-]{6,80}/
        $refresh = /\bxoxr-[0-9]{6,15}-[0-9A-Za-z\-]{6,80}/
        $legacy = /\bxoxs-[0-9]{6,15}-[0-9A-Za-z\-]{6,80}/
    condition:
        any of them
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

#!/usr/bin/env bash
# Regenerate the TLS test certificates of this directory (see README).
# Test-only material: self-signed, valid for 100 years, keys unencrypted.
# Needs the openssl command line (3.0 or later). Run from anywhere:
#   tests/data/config/files/make-certs.sh
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=36500

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -quiet -out "$1"; }

# self_signed KEY CRT SUBJECT [SAN]
self_signed() {
    local san=()
    [ -n "${4:-}" ] && san=(-addext "subjectAltName=$4")
    openssl req -x509 -new -key "$1" -out "$2" -days "$days" -sha256 \
        -subj "$3" "${san[@]}"
}

# dated KEY CRT SUBJECT START END: self-signed with a fixed validity window
# (req -x509 cannot set dates in OpenSSL 3.0; ca -selfsign can).
dated() {
    cat >"$tmp/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
dir = $tmp
database = $tmp/index.txt
new_certs_dir = $tmp
serial = $tmp/serial
default_md = sha256
policy = any
x509_extensions = ext
[any]
commonName = supplied
[ext]
subjectAltName = DNS:${3#/CN=}
basicConstraints = critical,CA:FALSE
EOF
    : >"$tmp/index.txt"
    echo 01 >"$tmp/serial"
    openssl req -new -key "$1" -subj "$3" -out "$tmp/req.csr"
    openssl ca -batch -notext -config "$tmp/ca.cnf" -selfsign -keyfile "$1" \
        -startdate "$4" -enddate "$5" -in "$tmp/req.csr" -out "$2" 2>/dev/null
}

# Default certificate: ECDSA P-256, an exact name and a wildcard.
ec_key server-a.key
self_signed server-a.key server-a.crt /CN=a.test "DNS:a.test,DNS:*.a.test"

# The same names with an RSA key: served to clients that cannot do ECDSA.
rsa_key server-a-rsa.key
self_signed server-a-rsa.key server-a-rsa.crt /CN=a.test \
    "DNS:a.test,DNS:*.a.test"

# A second name with RSA 2048.
rsa_key server-b.key
self_signed server-b.key server-b.crt /CN=b.test "DNS:b.test"

# No subjectAltName at all: matched by its CN.
ec_key server-c.key
self_signed server-c.key server-c.crt /CN=c.test

# A chain: leaf d.test issued by a test CA; chain.crt is leaf then CA.
ec_key ca.key
openssl req -x509 -new -key ca.key -out ca.crt -days "$days" -sha256 \
    -subj "/CN=Weir Test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign"
ec_key chain.key
openssl req -new -key chain.key -subj /CN=d.test -out "$tmp/d.csr"
printf 'subjectAltName=DNS:d.test\nbasicConstraints=critical,CA:FALSE\n' \
    >"$tmp/d.ext"
openssl x509 -req -in "$tmp/d.csr" -CA ca.crt -CAkey ca.key \
    -CAcreateserial -CAserial "$tmp/ca.srl" -days "$days" -sha256 \
    -extfile "$tmp/d.ext" -out "$tmp/d.crt"
cat "$tmp/d.crt" ca.crt >chain.crt
rm -f ca.key

# Bad: expired in 2001, and not valid before 2100.
ec_key expired.key
dated expired.key expired.crt /CN=expired.test 20000101000000Z 20010101000000Z
ec_key future.key
dated future.key future.crt /CN=future.test 21000101000000Z 21010101000000Z

# Bad: an RSA key too small to serve (1024 bits).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -quiet \
    -out weak.key
self_signed weak.key weak.crt /CN=weak.test "DNS:weak.test"

# Bad: a passphrase-protected key (passphrase "weir").
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -aes-256-cbc -pass pass:weir -out encrypted.key

chmod 0644 ./*.crt ./*.key

#!/usr/bin/env bash
# Makes a throw-away test PKI with the openssl CLI (nothing here is committed):
#   ca.pem/ca.key            the fleet CA
#   server.pem/server.key    the orchestrator: DNS localhost, IP 127.0.0.1
#   NAME.pem/NAME.key        a client certificate (CN=NAME, DNS SAN NAME) per name given
#   other-ca.pem, other-gw-1.pem/.key   a client certificate from another CA
#   expired-gw-1.pem/.key    a client certificate from the fleet CA, expired
# Usage: make-pki.sh DIR [NAME...]   (default names: gw-1 gw-2 gw-3 operator)
set -euo pipefail
dir=${1:?usage: make-pki.sh DIR [NAME...]}
shift
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(gw-1 gw-2 gw-3 operator)
mkdir -p "$dir"
cd "$dir"
[ -f .complete ] && exit 0

key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; chmod 600 "$1"; }

ca() {  # ca NAME SUBJECT
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 30 -subj "$2" -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

leaf() {  # leaf CA OUT CN SAN EXTUSAGE
  key "$2.key"
  openssl req -new -key "$2.key" -subj "/CN=$3" -out "$2.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' "$5" "$4" > "$2.ext"
  openssl x509 -req -in "$2.csr" -CA "$1.pem" -CAkey "$1.key" -CAcreateserial -days 30 -sha256 \
    -extfile "$2.ext" -out "$2.pem" 2>/dev/null
  rm -f "$2.csr" "$2.ext"
}

ca ca "/CN=Cloud4IoT Test Fleet CA"
# Replicas share it and forward gateway events to their leader with it: a client certificate too.
leaf ca server localhost "DNS:localhost,IP:127.0.0.1" serverAuth,clientAuth
for n in "${names[@]}"; do leaf ca "$n" "$n" "DNS:$n" clientAuth; done

ca other-ca "/CN=Some Other CA"
leaf other-ca other-gw-1 gw-1 "DNS:gw-1" clientAuth

# An expired certificate needs explicit dates: `openssl ca` takes them.
mkdir -p expired-ca/newcerts && : > expired-ca/index.txt && echo 1000 > expired-ca/serial
cat > expired-ca/ca.cnf <<CNF
[ ca ]
default_ca = test
[ test ]
dir = ./expired-ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = anything
copy_extensions = none
[ anything ]
commonName = supplied
[ client ]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
subjectAltName = DNS:gw-1
CNF
key expired-gw-1.key
openssl req -new -key expired-gw-1.key -subj "/CN=gw-1" -out expired-gw-1.csr 2>/dev/null
openssl ca -batch -config expired-ca/ca.cnf -cert ca.pem -keyfile ca.key -extensions client \
  -startdate 20200101000000Z -enddate 20200201000000Z -in expired-gw-1.csr -out expired-gw-1.pem 2>/dev/null
rm -rf expired-gw-1.csr expired-ca
touch .complete

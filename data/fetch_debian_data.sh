#!/usr/bin/env bash
# Fetch the real public data that Debian packages carry (DESIGN §8) into
# data/external/. Reproducible: fixed package versions from Debian 12, and
# only what the demo recipe and the tests read is kept.
set -euo pipefail
cd "$(dirname "$0")"
out=external
[ -f "$out/.complete" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
packages=(hisat2 subread-data shapeit4-example r-bioc-org.hs.eg.db)
(cd "$tmp" && apt-get download "${packages[@]}" >/dev/null 2>&1) || {
  if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
  (cd "$tmp" && apt-get download "${packages[@]}" >/dev/null)
}
for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
rm -rf "$out"; mkdir -p "$out"
r="$tmp/root"
cp "$r"/usr/share/doc/hisat2/examples/reference/22_20-21M.fa "$out/"
cp "$r"/usr/share/doc/hisat2/examples/reference/22_20-21M.snp "$out/"
cp "$r"/usr/share/doc/subread/examples/annotation/hg19_RefSeq_exon.txt.gz "$out/"
mkdir -p "$out/shapeit4"
cp "$r"/usr/share/doc/shapeit4/examples/test/reference.vcf.gz* "$out/shapeit4/"
cp "$r"/usr/share/doc/shapeit4/examples/test/reference.bcf* "$out/shapeit4/"
cp "$r"/usr/share/doc/shapeit4/examples/test/chr20.b37.gmap.gz "$out/shapeit4/"
cp "$r"/usr/share/doc/shapeit4/examples/maps/genetic_maps.b37.tar.gz "$out/shapeit4/"
cp "$r"/usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite "$out/"
touch "$out/.complete"

#!/usr/bin/env bash
# Vendors the front-end assets into static/vendor/ from the npm registry.
# The result is committed: at run time Vitals never loads anything from a CDN.
# To upgrade, change a version below, run this script and commit static/vendor/.
set -euo pipefail

BOOTSTRAP_VERSION="5.3.8"
HTMX_VERSION="2.0.11"  # htmx 2 on purpose: django-htmx and our hx-* usage target 2.x

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor_dir="$repo_root/static/vendor"
work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

# fetch NAME VERSION: unpacks the package tarball into $work_dir/NAME/package
fetch() {
    local name="$1" version="$2"
    mkdir -p "$work_dir/$name"
    (cd "$work_dir/$name" && npm pack --silent "$name@$version" >/dev/null && tar -xzf ./*.tgz)
}

fetch bootstrap "$BOOTSTRAP_VERSION"
fetch htmx.org "$HTMX_VERSION"

rm -rf "$vendor_dir/bootstrap" "$vendor_dir/htmx"
mkdir -p "$vendor_dir/bootstrap/css" "$vendor_dir/bootstrap/js" "$vendor_dir/htmx"

bs="$work_dir/bootstrap/package"
cp "$bs/dist/css/bootstrap.min.css" "$vendor_dir/bootstrap/css/"
cp "$bs/dist/js/bootstrap.bundle.min.js" "$vendor_dir/bootstrap/js/"
cp "$bs/LICENSE" "$vendor_dir/bootstrap/LICENSE"
echo "bootstrap@$BOOTSTRAP_VERSION" > "$vendor_dir/bootstrap/VERSION"

hx="$work_dir/htmx.org/package"
cp "$hx/dist/htmx.min.js" "$vendor_dir/htmx/"
cp "$hx/LICENSE" "$vendor_dir/htmx/LICENSE"
echo "htmx.org@$HTMX_VERSION" > "$vendor_dir/htmx/VERSION"

# The packages point at .map files we do not ship; the manifest storage of
# `collectstatic` rewrites every sourceMappingURL and fails on a missing target.
find "$vendor_dir" -name '*.min.*' -exec sed -i '/sourceMappingURL=/d' {} +

echo "Vendored bootstrap@$BOOTSTRAP_VERSION and htmx.org@$HTMX_VERSION into static/vendor/"

#!/usr/bin/env bash
# Generic CI step: preview each stack with the policy pack and quota, write one markdown report per
# stack (preview-<stack>.md, what a pull-request comment shows) and its JSON (preview-<stack>.json),
# and exit with the worst result: 1 if any stack has a mandatory policy violation or an error, else 2
# if any has advisory violations only, else 0. Usage: examples/ci/preview-stacks.sh [STACK...]
# (default: every stacks/Pulumi.<stack>.yaml). Runs from a clone of the project; bootstraps first.
set -uo pipefail
cd "$(dirname "$0")/../.."
bash scripts/bootstrap || exit 1
. scripts/env
stacks=("$@")
if [ ${#stacks[@]} -eq 0 ]; then
  mapfile -t stacks < <(ls stacks | sed -n 's/^Pulumi\.\(.*\)\.yaml$/\1/p')
fi
worst=0
for stack in "${stacks[@]}"; do
  # The markdown and the JSON come from the same report, so the two never disagree.
  scripts/mle --stack "$stack" preview --format markdown --output "preview-$stack.md" \
    --json-output "preview-$stack.json"
  code=$?
  if [ ! -s "preview-$stack.md" ]; then
    printf '## mlendpoints preview of stack `%s`: FAILS\n\nThe preview could not run (exit %s); see the job log.\n' \
      "$stack" "$code" >"preview-$stack.md"
  fi
  echo "stack $stack: exit $code (preview-$stack.md)"
  if [ "$code" = 1 ] || { [ "$code" = 2 ] && [ "$worst" = 0 ]; }; then worst=$code; fi
  [ "$code" -gt 2 ] && worst=1
done
exit "$worst"

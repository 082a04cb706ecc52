# Step 1 (managed identity): counts the census rows into its output folder.
import os
import sys

raw, out = sys.argv[1], sys.argv[2]
rows = open(raw).read().strip().split("\n")[1:]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "rows.txt"), "w") as f:
    f.write("%d\n" % len(rows))
print("prep: %d census rows" % len(rows))

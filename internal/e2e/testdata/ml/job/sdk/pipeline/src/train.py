# Step 2 (user identity): reads step 1's output and the census file itself,
# writes the pipeline's output.
import os
import sys

prepped, raw, out = sys.argv[1], sys.argv[2], sys.argv[3]
n = open(os.path.join(prepped, "rows.txt")).read().strip()
header = open(raw).read().split("\n")[0]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "model.txt"), "w") as f:
    f.write("model over %s rows of %s\n" % (n, header))
print("train: model over %s rows" % n)

# Writes two files into the job's named output and a line to its log.
import os
import sys

out = sys.argv[1]
os.makedirs(os.path.join(out, "sub"), exist_ok=True)
with open(os.path.join(out, "result.txt"), "w") as f:
    f.write("answer=%s\n" % sys.argv[2])
with open(os.path.join(out, "sub", "more.txt"), "w") as f:
    f.write("nested\n")
print("make_outputs: wrote the answer")

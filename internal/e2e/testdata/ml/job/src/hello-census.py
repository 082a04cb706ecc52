# The seed's training script (seed 003, "Access data for training jobs on
# compute clusters using user identity"): it reads the census CSV the job's
# input names.
import argparse
import csv

parser = argparse.ArgumentParser()
parser.add_argument("--census-csv", type=str)
args = parser.parse_args()
with open(args.census_csv, newline="") as f:
    rows = list(csv.reader(f))
print("census rows:", len(rows) - 1)
print("first row:", rows[1])

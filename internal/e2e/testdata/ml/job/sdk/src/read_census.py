# The seed's <my-script>.py: it reads the file the job's input names.
import argparse
import csv
import time

parser = argparse.ArgumentParser()
parser.add_argument("--input_data", type=str)
args = parser.parse_args()
with open(args.input_data, newline="") as f:
    rows = list(csv.reader(f))
print("census rows:", len(rows) - 1)
print("first row:", rows[1])
# Training takes a while: long enough that ml_client.jobs.stream, called
# right after submission, sees the run in progress and streams this log
# (the SDK prints a run's log only while it polls an unfinished run).
time.sleep(3)

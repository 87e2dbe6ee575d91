"""PEFT LoRA supervised fine-tuning: the code of `loraplane train` and of the pipeline's jobs.

Self-contained (torch, transformers, peft, safetensors; boto3 for the hand-off): the same files
run in a SageMaker training or processing container, where this folder is the job's code.
"""

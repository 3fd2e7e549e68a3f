"""What happens after training: registration, the approval gate, blue/green deployment, the ops CLI."""

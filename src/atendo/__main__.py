from atendo.cli import app

app()

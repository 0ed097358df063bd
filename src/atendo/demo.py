"""Sample data for a first look: a company with Portuguese conversations."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from atendo.core.channels.service import create_channel
from atendo.core.clients.service import find_or_create_client
from atendo.core.companies.service import create_company, get_company
from atendo.core.dialogs.service import close_dialog, ensure_request, open_dialog, touch_dialog
from atendo.core.enums import ChannelStatus, DeliveryStatus, MessageType, Role
from atendo.core.messages.models import Message
from atendo.core.operators.service import create_operator
from atendo.core.tags.service import assign_tags, create_tag, create_tag_group
from atendo.core.templates.service import create_template
from atendo.kit.clock import utcnow
from atendo.kit.crypto import SecretBox

CONVERSATIONS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    (
        "Mariana Souza",
        "mariana.souza@exemplo.com.br",
        "Pedido 48213 não chegou",
        [
            (
                "in",
                "Olá! Comprei semana passada e o pedido 48213 ainda não chegou. Podem verificar?",
            ),
            ("out", "Olá, Mariana! Verifiquei aqui: o pedido saiu ontem e chega até sexta-feira."),
            ("in", "Perfeito, muito obrigada pelo retorno rápido!"),
        ],
    ),
    (
        "João Pereira",
        "joao.pereira@empresa.com.br",
        "Segunda via do boleto",
        [("in", "Bom dia, preciso da segunda via do boleto de novembro. Obrigado.")],
    ),
    (
        "Ana Lima",
        "ana.lima@correio.pt",
        "Troca de tamanho",
        [
            ("in", "Boa tarde, o casaco ficou pequeno. Posso trocar por um tamanho M?"),
            ("out", "Boa tarde, Ana! Pode sim. Enviamos a etiqueta de devolução por e-mail."),
        ],
    ),
    (
        "Carlos Oliveira",
        "carlos@oliveira.dev",
        "Nota fiscal",
        [("in", "Oi, a nota fiscal da compra 77120 veio com o CNPJ errado. Como corrijo?")],
    ),
    (
        "Fernanda Costa",
        "fernanda.costa@exemplo.com.br",
        "Cancelamento da assinatura",
        [
            ("in", "Quero cancelar minha assinatura mensal, por favor."),
            ("out", "Oi, Fernanda. Cancelamos a assinatura; não haverá novas cobranças."),
            ("in", "Obrigada!"),
        ],
    ),
]


def fill_demo(
    session: Session,
    *,
    box: SecretBox,
    company_id: int | None,
    admin_password: str | None = None,
) -> dict[str, Any]:
    """Sample data; with no company, a new one whose admin's e-mail and password are in the
    summary (``admin_password``: chosen, else generated)."""
    token = None
    password: str | None = None
    if company_id is None:
        password = admin_password or "demo-" + secrets.token_hex(6)
        new = create_company(
            session,
            name="Loja Exemplo",
            admin_email=f"admin+{secrets.token_hex(3)}@exemplo.com.br",
            admin_password=password,
            admin_first_name="Beatriz",
            admin_last_name="Almeida",
        )
        company_id, token, admin_email = new.company.id, new.api_token, new.admin.email
    else:
        get_company(session, company_id)
        admin_email = None
    operator = create_operator(
        session,
        company_id=company_id,
        email=f"rafael+{secrets.token_hex(3)}@exemplo.com.br",
        password=secrets.token_urlsafe(12),
        role=Role.OPERATOR,
        first_name="Rafael",
        last_name="Santos",
    )
    channel = create_channel(
        session,
        company_id=company_id,
        transport="email",
        name="Atendimento (demo)",
        settings={"email": "atendimento@exemplo.com.br", "sender_name": "Loja Exemplo"},
        secrets={},
        box=box,
        status=ChannelStatus.DISABLED,
    )
    # No mailbox behind it: it shows the sample conversations but starts none.
    channel.write_first = False
    group = create_tag_group(session, company_id=company_id, name="Assunto")
    tags = [
        create_tag(session, company_id=company_id, label=label, group_id=group.id)
        for label in ("Entrega", "Financeiro", "Troca", "Cancelamento")
    ]
    create_template(
        session,
        company_id=company_id,
        name="Saudação",
        command="ola",
        text="Olá! Obrigado por falar com a Loja Exemplo. Como posso ajudar?",
    )
    create_template(
        session,
        company_id=company_id,
        name="Prazo de entrega",
        command="prazo",
        text="O prazo de entrega é de 3 a 5 dias úteis após a confirmação do pagamento.",
    )
    now = utcnow()
    for index, (name, email, subject, lines) in enumerate(CONVERSATIONS):
        client, _ = find_or_create_client(
            session, company_id=company_id, transport="email", address=email, name=name
        )
        dialog = open_dialog(
            session,
            company_id=company_id,
            client_id=client.id,
            channel_id=channel.id,
            recipients=[email],
            subject=subject,
        )
        request, _ = ensure_request(session, dialog=dialog)
        assign_tags(
            session,
            company_id=company_id,
            tag_ids=[tags[index % len(tags)].id],
            assignee_type="client",
            assignee_id=client.id,
        )
        for step, (direction, text) in enumerate(lines):
            inbound = direction == "in"
            when = now - timedelta(hours=5 * (len(CONVERSATIONS) - index), minutes=30 - step * 7)
            message = Message(
                company_id=company_id,
                channel_id=channel.id,
                dialog_id=dialog.id,
                client_id=client.id,
                request_id=request.id,
                operator_id=None if inbound else operator.id,
                type=(MessageType.FROM_CLIENT if inbound else MessageType.TO_CLIENT).value,
                transport="email",
                text=text,
                subject=subject if step == 0 else f"Re: {subject}",
                from_email=email if inbound else "atendimento@exemplo.com.br",
                from_name=name if inbound else "Loja Exemplo",
                to=["atendimento@exemplo.com.br"] if inbound else [email],
                read=not inbound or step < len(lines) - 1,
                delivery_status=None if inbound else DeliveryStatus.SENT.value,
                sent_at=None if inbound else when,
                created=when,
            )
            session.add(message)
            session.flush()
            touch_dialog(session, dialog=dialog, message=message)
        if index == 4:
            close_dialog(session, company_id=company_id, dialog_id=dialog.id)
    return {
        "company_id": company_id,
        "admin_email": admin_email,
        "admin_password": password,
        "api_token": token,
        "clients": len(CONVERSATIONS),
    }

"""Demo data (`peal seed`) and the first administrator (`peal create-admin`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import partial

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.config import Settings
from peal.core.security import PasswordHashing
from peal.db import Database, commit, utcnow
from peal.jobs import close_runtime, set_runtime, wait_for_jobs
from peal.settings.service import create_default_settings
from peal.users.models import User
from peal.users.service import create_user, get_user_by_email

DEMO_PASSWORD = "PealDemo-2026!"  # noqa: S105 - printed for the demo accounts, development only


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: str
    bio: str
    location: str
    skills: tuple[str, ...]


DEMO_USERS = (
    DemoUser(
        "amara@demo.peal.app",
        "Amara Okafor",
        "woman",
        "Baker turning my grandmother's recipes into a neighbourhood bakery.",
        "Lagos, Nigeria",
        ("baking", "small business", "marketing"),
    ),
    DemoUser(
        "lucia@demo.peal.app",
        "Lucía Fernández",
        "woman",
        "Software developer teaching girls to code on weekends.",
        "Bogotá, Colombia",
        ("python", "teaching", "web development"),
    ),
    DemoUser(
        "grace@demo.peal.app",
        "Grace Mensah",
        "sponsor",
        "Angel investor and mentor for women-led businesses.",
        "Accra, Ghana",
        ("finance", "fundraising", "mentoring"),
    ),
    DemoUser(
        "admin@demo.peal.app",
        "PEAL Admin",
        "admin",
        "Keeps PEAL safe and welcoming.",
        "Remote",
        ("moderation",),
    ),
)


async def ensure_user(
    session: AsyncSession,
    passwords: PasswordHashing,
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    bio: str | None = None,
    location: str | None = None,
    skills: tuple[str, ...] = (),
) -> tuple[User, bool]:
    """The user with this email, created (verified, with default settings) if missing."""
    existing = await get_user_by_email(session, email)
    if existing is not None:
        return existing, False
    user = await create_user(
        session,
        email=email,
        name=name,
        role=role,
        password_hash=await passwords.hash(password),
        bio=bio,
        location=location,
        skills=skills,
        email_verified=True,
    )
    await create_default_settings(session, user.id)
    return user, True


async def run_seed(settings: Settings) -> None:
    if not settings.is_development_like:
        # Demo accounts share one published password: never on a reachable deployment.
        raise SystemExit(f"refusing to seed demo accounts with NODE_ENV={settings.environment}")
    db = Database(settings)
    set_runtime(settings, db)
    passwords = PasswordHashing(settings)
    try:
        async with db.sessionmaker() as session:
            demo_users: dict[str, User] = {}
            for demo in DEMO_USERS:
                user, created = await ensure_user(
                    session,
                    passwords,
                    email=demo.email,
                    name=demo.name,
                    role=demo.role,
                    password=DEMO_PASSWORD,
                    bio=demo.bio,
                    location=demo.location,
                    skills=demo.skills,
                )
                demo_users[demo.email] = user
                print(f"{'created' if created else 'exists '} {demo.role:8} {demo.email}")
            await commit(session)
            await seed_funding(session, settings, demo_users)
            await seed_videos(session, settings, demo_users)
            await seed_goals_and_events(session, demo_users)
            await seed_mentoring(session, passwords, demo_users)
            await seed_messages(session, demo_users)
        await wait_for_jobs()
    finally:
        await close_runtime()
        await db.dispose()
    print(f"\nDemo password for every demo account: {DEMO_PASSWORD}")


async def seed_funding(session: AsyncSession, settings: Settings, users: dict[str, User]) -> None:
    """Requests in every status, donations (some anonymous) and stories, made through the
    funding services with the development provider, so the ledger adds up. Runs once."""
    from peal.funding import donations
    from peal.funding import service as funding
    from peal.funding.models import FundingRequest
    from peal.funding.schemas import DonateBody, FundingRequestCreate
    from peal.stories import service as stories
    from peal.stories.models import SuccessStory
    from peal.stories.schemas import StoryCreate

    amara = users["amara@demo.peal.app"]
    lucia = users["lucia@demo.peal.app"]
    grace = users["grace@demo.peal.app"]
    if await session.scalar(select(FundingRequest.id).where(FundingRequest.author_id == amara.id)):
        print("exists  funding requests, donations and stories")
        return
    dev = settings.model_copy(update={"payment_provider": "development"})
    today = funding.today()

    async def open_request(
        author: User, title: str, description: str, category: str, goal: str, days: int
    ) -> FundingRequest:
        body = FundingRequestCreate(
            title=title,
            description=description,
            category=category,
            goal_amount=Decimal(goal),
            deadline=today + timedelta(days=days),
        )
        return await funding.create_request(session, author, body)

    async def give(
        request: FundingRequest,
        donor: User,
        amount: str,
        message: str | None,
        anonymous: bool = False,
    ) -> None:
        body = DonateBody(amount=Decimal(amount), message=message, is_anonymous=anonymous)
        await donations.donate(session, dev, request_id=request.id, donor=donor, body=body)

    bakery = await open_request(
        amara,
        "Open my grandmother's bakery",
        "An oven, a mixer and the first month of flour to open a neighbourhood bakery.",
        "business",
        "5000",
        45,
    )
    await give(bakery, grace, "250", "Your bread will be the talk of the street!")
    await give(bakery, lucia, "75.50", "Rooting for you.", anonymous=True)

    laptops = await open_request(
        lucia,
        "Laptops for the girls' coding club",
        "Three refurbished laptops so every girl in the weekend club has her own machine.",
        "education",
        "300",
        30,
    )
    await give(laptops, grace, "200", "Teach them well.")
    await give(laptops, amara, "100", None, anonymous=True)  # reaches the goal: funded

    stall = await open_request(
        amara,
        "A market stall for the summer",
        "A stall at the Saturday market, for the summer season.",
        "business",
        "800",
        20,
    )
    await give(stall, grace, "50", "Good luck at the market.")
    await donations.cancel_request(session, dev, stall.id, amara)  # refunded at once

    workshop = await open_request(
        lucia,
        "Sewing workshop",
        "Two sewing machines for a repair workshop.",
        "community",
        "1200",
        10,
    )
    await give(workshop, grace, "120", None)
    # Its deadline passed: expired (the state the hourly job would have left it in).
    await session.execute(
        sql_update(FundingRequest)
        .where(FundingRequest.id == workshop.id)
        .values(deadline=today - timedelta(days=3), status="expired")
    )

    coding_story = await stories.create_story(
        session,
        lucia,
        StoryCreate(
            title="The coding club has its laptops!",
            description="Thanks to our supporters, every girl now codes on her own laptop.",
            impact_description="Twelve girls finished their first web page this month.",
            request_id=laptops.id,
        ),
    )
    await stories.create_story(
        session,
        amara,
        StoryCreate(
            title="From my kitchen to the market",
            description="Two years ago I baked for my family; today my neighbours order bread.",
        ),
    )
    await session.execute(
        sql_update(SuccessStory).where(SuccessStory.id == coding_story.id).values(is_featured=True)
    )
    await stories.celebrate(session, coding_story.id, grace)
    await stories.celebrate(session, coding_story.id, amara)
    await commit(session)
    print("created funding requests (active, funded, cancelled, expired), donations and stories")


@dataclass(frozen=True)
class DemoVideo:
    author: str
    title: str
    description: str
    category: str
    tags: tuple[str, ...]
    hue: int


DEMO_VIDEOS = (
    DemoVideo(
        "amara@demo.peal.app",
        "Morning bake: sourdough at 5 am",
        "The first loaves of the day, and why I still knead by hand.",
        "business",
        ("baking", "small business"),
        20,
    ),
    DemoVideo(
        "lucia@demo.peal.app",
        "Girls who code: our first web page",
        "Twelve girls, one weekend, one web page each.",
        "education",
        ("coding", "python"),
        120,
    ),
    DemoVideo(
        "grace@demo.peal.app",
        "What investors look for in a pitch",
        "Three questions every pitch must answer in its first minute.",
        "finance",
        ("fundraising", "pitch"),
        200,
    ),
    DemoVideo(
        "amara@demo.peal.app",
        "Pricing your bread without underselling",
        "Flour, hours and rent: how I set my prices.",
        "business",
        ("pricing", "entrepreneurship"),
        60,
    ),
    DemoVideo(
        "lucia@demo.peal.app",
        "Three tips for your first tech interview",
        "What I wish someone had told me before mine.",
        "education",
        ("career", "tech"),
        160,
    ),
)


async def seed_videos(session: AsyncSession, settings: Settings, users: dict[str, User]) -> None:
    """A few small real clips (made with PyAV), processed like uploads (duration, thumbnail),
    with likes, views and comments through the video services. Runs once."""
    import anyio

    from peal.storage.base import new_key
    from peal.storage.service import storage_for
    from peal.uploads.service import register_stored_file
    from peal.videos import comments, service
    from peal.videos.media import make_demo_clip
    from peal.videos.models import Video
    from peal.videos.ranking import recompute_trending
    from peal.videos.schemas import VideoCreate
    from peal.videos.tasks import process_video_now

    amara = users["amara@demo.peal.app"]
    if await session.scalar(select(Video.id).where(Video.author_id == amara.id)):
        print("exists  videos, likes and comments")
        return
    storage = storage_for(settings)
    videos: list[Video] = []
    for demo in DEMO_VIDEOS:
        author = users[demo.author]
        clip = await anyio.to_thread.run_sync(partial(make_demo_clip, hue=demo.hue))
        key = new_key(author.id, "mp4")
        await storage.write(key, clip, "video/mp4")
        upload = await register_stored_file(
            session,
            owner_id=author.id,
            key=key,
            kind="video",
            content_type="video/mp4",
            size=len(clip),
            url=storage.public_url(key),
            in_use=False,
        )
        body = VideoCreate(
            video_url=upload.url or key,
            title=demo.title,
            description=demo.description,
            category=demo.category,
            tags=list(demo.tags),
        )
        videos.append(await service.create_video(session, author, body))
    made = [(video.id, video.author_id) for video in videos]
    await commit(session)  # queues processing; done here at once so the feed is ready now
    for video_id, _author_id in made:
        await process_video_now(video_id)
    await wait_for_jobs()
    for video in videos:  # processed in other sessions: read their state again
        session.expire(video)

    everyone = list(users.values())
    for index, (video_id, author_id) in enumerate(made):
        for viewer in everyone:
            if viewer.id != author_id and (index + len(viewer.name)) % 3 != 0:
                await service.like_video(session, video_id, viewer)
            await service.record_view(session, video_id, viewer, f"u:{viewer.id}")
    grace, lucia = users["grace@demo.peal.app"], users["lucia@demo.peal.app"]
    ids = [video_id for video_id, _ in made]
    first = await comments.add_comment(
        session, ids[0], grace, "I can almost smell the bread from here!", None
    )
    await comments.add_comment(session, ids[0], amara, "Come by on Saturday!", first.id)
    await comments.add_comment(session, ids[1], amara, "My niece wants to join your club.", None)
    await comments.add_comment(session, ids[2], lucia, "Saving this for my next pitch.", None)
    await recompute_trending(session, settings)
    await commit(session)
    print(f"created {len(videos)} videos (processed, with thumbnails), likes, views, comments")


@dataclass(frozen=True)
class DemoGoal:
    owner: str
    title: str
    description: str
    category: str
    priority: str
    target_in_days: int
    # (milestone title, completed?)
    milestones: tuple[tuple[str, bool], ...] = ()
    # For a goal without milestones: its status and the progress its owner set.
    status: str = "in_progress"
    progress: int = 0


DEMO_GOALS = (
    DemoGoal(
        "amara@demo.peal.app",
        "Open the bakery by spring",
        "A small shop on my street, with the oven my grandmother would have wanted.",
        "business",
        "high",
        120,
        (
            ("Register the business name", True),
            ("Find a shop to rent", True),
            ("Buy the oven", False),
            ("Hire a first baker", False),
        ),
    ),
    DemoGoal(
        "amara@demo.peal.app",
        "Learn bookkeeping",
        "Know my numbers every month instead of every year.",
        "education",
        "medium",
        60,
        (("Finish the online course", True), ("Set up a ledger", False), ("Close March", False)),
    ),
    DemoGoal(
        "amara@demo.peal.app",
        "Sell at the Saturday market",
        "Test the recipes on real customers before the shop opens.",
        "business",
        "medium",
        -10,
        (("Get a stall permit", True), ("Sell out one Saturday", True)),
    ),
    DemoGoal(
        "amara@demo.peal.app",
        "Run a half marathon",
        "Paused while the bakery takes my mornings.",
        "health",
        "low",
        200,
        status="on_hold",
        progress=20,
    ),
    DemoGoal(
        "lucia@demo.peal.app",
        "Launch the coding club website",
        "A site where the girls publish their projects.",
        "career",
        "high",
        45,
        (("Pick a domain name", True), ("Design the home page", True), ("Go live", False)),
    ),
    DemoGoal(
        "lucia@demo.peal.app",
        "Get a cloud certification",
        "The exam I keep postponing.",
        "career",
        "medium",
        -5,  # past its target date: counts as overdue
        (("Book the exam", False), ("Pass the practice test", False)),
    ),
    DemoGoal(
        "lucia@demo.peal.app",
        "Save for a new laptop",
        "Mine is older than some of the girls in the club.",
        "finance",
        "medium",
        90,
        progress=40,
    ),
)


@dataclass(frozen=True)
class DemoEvent:
    host: str
    title: str
    description: str
    category: str
    in_days: int
    hours: float
    location: str | None
    meeting_url: str | None = None
    max_attendees: int | None = None
    attendees: tuple[str, ...] = ()


DEMO_EVENTS = (
    DemoEvent(
        "grace@demo.peal.app",
        "Pitch clinic: funding your first shop",
        "Bring a two-minute pitch; leave with three questions every investor will ask.",
        "webinar",
        7,
        1.5,
        "Online",
        meeting_url="https://meet.example.com/peal-pitch-clinic",
        attendees=("amara@demo.peal.app", "lucia@demo.peal.app"),
    ),
    DemoEvent(
        "lucia@demo.peal.app",
        "Code your first web page",
        "A hands-on afternoon: HTML, CSS and a page of your own by the end.",
        "workshop",
        14,
        3,
        "Biblioteca Virgilio Barco, Bogotá",
        max_attendees=12,
        attendees=("amara@demo.peal.app",),
    ),
    DemoEvent(
        "amara@demo.peal.app",
        "Women in food business meetup",
        "Bakers, caterers and market sellers swapping suppliers and stories.",
        "networking",
        21,
        2,
        "Yaba, Lagos",
        max_attendees=30,
        attendees=("grace@demo.peal.app", "lucia@demo.peal.app"),
    ),
    DemoEvent(
        "grace@demo.peal.app",
        "Mentorship circle: your first year in business",
        "Small groups, one mentor each, an hour of honest questions.",
        "mentorship",
        30,
        1,
        "Online",
        meeting_url="https://meet.example.com/peal-mentorship-circle",
        max_attendees=8,
    ),
)


async def seed_goals_and_events(session: AsyncSession, users: dict[str, User]) -> None:
    """Goals (with milestones, in every status) for the demo women and upcoming events with
    registrations, through the goals and events services. Each part runs once."""
    await _seed_goals(session, users)
    await _seed_events(session, users)


async def _seed_goals(session: AsyncSession, users: dict[str, User]) -> None:
    from peal.goals import service as goals
    from peal.goals.models import Goal
    from peal.goals.schemas import GoalCreate, GoalUpdate, MilestoneCreate, MilestoneUpdate

    owners = {users[demo.owner].id for demo in DEMO_GOALS}
    if await session.scalar(select(Goal.id).where(Goal.user_id.in_(owners)).limit(1)):
        print("exists  goals and milestones")
        return
    today = goals.today_utc()
    for demo in DEMO_GOALS:
        owner = users[demo.owner]
        goal = await goals.create_goal(
            session,
            owner.id,
            GoalCreate(
                title=demo.title,
                description=demo.description,
                category=demo.category,
                priority=demo.priority,
                target_date=today + timedelta(days=demo.target_in_days),
                milestones=[MilestoneCreate(title=title) for title, _ in demo.milestones],
            ),
        )
        for milestone, (_title, completed) in zip(goal.milestones, demo.milestones, strict=True):
            if completed:  # progress (and completing the goal) follow the service's rule
                await goals.update_milestone(
                    session, owner.id, goal.id, milestone.id, MilestoneUpdate(completed=True)
                )
        if not demo.milestones and (demo.progress or demo.status != "in_progress"):
            await goals.update_goal(
                session, owner.id, goal.id, GoalUpdate(status=demo.status, progress=demo.progress)
            )
    await commit(session)
    print(f"created {len(DEMO_GOALS)} goals (in progress, completed, on hold, overdue)")


async def _seed_events(session: AsyncSession, users: dict[str, User]) -> None:
    from peal.events import service as events
    from peal.events.models import Event
    from peal.events.schemas import EventCreate

    hosts = {users[demo.host].id for demo in DEMO_EVENTS}
    if await session.scalar(select(Event.id).where(Event.host_id.in_(hosts)).limit(1)):
        print("exists  events and registrations")
        return
    start_of_hour = utcnow().replace(minute=0, second=0, microsecond=0)
    for demo in DEMO_EVENTS:
        starts = start_of_hour + timedelta(days=demo.in_days)
        event = await events.create_event(
            session,
            users[demo.host],
            EventCreate(
                title=demo.title,
                description=demo.description,
                category=demo.category,
                event_date=starts,
                end_date=starts + timedelta(hours=demo.hours),
                location=demo.location,
                is_virtual=demo.meeting_url is not None,
                meeting_url=demo.meeting_url,
                max_attendees=demo.max_attendees,
            ),
        )
        for attendee in demo.attendees:
            await events.register(session, users[attendee], event.id)
    await commit(session)
    print(f"created {len(DEMO_EVENTS)} upcoming events (online and in person), registrations")


@dataclass(frozen=True)
class DemoMentor:
    email: str
    bio: str
    skills: tuple[str, ...]
    years: int
    availability: str = "available"
    max_mentees: int = 5
    accepts_remote: bool = True


# People who only mentor (the demo users above mentor too); their password is the demo one.
DEMO_MENTOR_USERS = (
    DemoUser(
        "nadia@demo.peal.app",
        "Nadia Haddad",
        "sponsor",
        "Built a chain of neighbourhood shops; now I help others grow theirs.",
        "Lagos, Nigeria",
        ("retail", "marketing"),
    ),
    DemoUser(
        "mei@demo.peal.app",
        "Mei Chen",
        "woman",
        "Product designer who loves turning messy ideas into simple apps.",
        "Remote",
        ("product design",),
    ),
    DemoUser(
        "fatima@demo.peal.app",
        "Fatima Diallo",
        "sponsor",
        "Twenty years in agriculture and food supply chains across West Africa.",
        "Dakar, Senegal",
        ("agriculture",),
    ),
)

DEMO_MENTORS = (
    DemoMentor(
        "grace@demo.peal.app",
        "I help founders raise their first money and pitch with confidence.",
        ("finance", "fundraising", "pitching", "investing"),
        15,
    ),
    DemoMentor(
        "lucia@demo.peal.app",
        "Weekend coding coach: from a first web page to a first job.",
        ("python", "web development", "teaching"),
        8,
        availability="busy",
        max_mentees=3,
    ),
    DemoMentor(
        "nadia@demo.peal.app",
        "Branding, pricing and getting customers through the door.",
        ("marketing", "branding", "retail", "small business", "pricing"),
        12,
    ),
    DemoMentor(
        "mei@demo.peal.app",
        "Design your product around the people who will use it.",
        ("product design", "ux", "e-commerce"),
        6,
        max_mentees=2,
    ),
    DemoMentor(
        "fatima@demo.peal.app",
        "Sourcing, logistics and selling fresh food at a fair price.",
        ("agriculture", "supply chain", "finance", "food business"),
        20,
        max_mentees=2,
        accepts_remote=False,
    ),
)

# (mentee, mentor, message, accepted?)
DEMO_CONNECTIONS = (
    (
        "amara@demo.peal.app",
        "grace@demo.peal.app",
        "I would love help preparing a pitch for my bakery.",
        False,
    ),
    ("lucia@demo.peal.app", "grace@demo.peal.app", "How do I fund a coding club?", True),
    ("lucia@demo.peal.app", "mei@demo.peal.app", "Could you review my club's website?", False),
    ("amara@demo.peal.app", "fatima@demo.peal.app", "Where do I buy flour in bulk?", True),
)


async def seed_mentoring(
    session: AsyncSession, passwords: PasswordHashing, users: dict[str, User]
) -> None:
    """Mentor profiles across skills (some demo users, and three people who only mentor),
    with pending and accepted requests, through the mentoring service. Runs once."""
    from peal.mentors import service as mentors
    from peal.mentors.models import MentorProfile
    from peal.mentors.schemas import MentorCreate

    people = dict(users)
    for demo in DEMO_MENTOR_USERS:
        user, created = await ensure_user(
            session,
            passwords,
            email=demo.email,
            name=demo.name,
            role=demo.role,
            password=DEMO_PASSWORD,
            bio=demo.bio,
            location=demo.location,
            skills=demo.skills,
        )
        people[demo.email] = user
        print(f"{'created' if created else 'exists '} {demo.role:8} {demo.email}")
    await commit(session)
    first = people[DEMO_MENTORS[0].email]
    if await session.scalar(select(MentorProfile.id).where(MentorProfile.user_id == first.id)):
        print("exists  mentor profiles and connections")
        return
    profiles = {}
    for mentor in DEMO_MENTORS:
        profile = await mentors.create_mentor(
            session,
            people[mentor.email],
            MentorCreate(
                bio=mentor.bio,
                skills=list(mentor.skills),
                years_experience=mentor.years,
                availability=mentor.availability,
                max_mentees=mentor.max_mentees,
                accepts_remote=mentor.accepts_remote,
            ),
        )
        profiles[mentor.email] = profile.id
    for mentee, mentor_email, message, accepted in DEMO_CONNECTIONS:
        connection = await mentors.connect(session, people[mentee], profiles[mentor_email], message)
        if accepted:
            await mentors.answer_request(
                session, people[mentor_email], profiles[mentor_email], connection.id, "accept"
            )
    await commit(session)
    print(f"created {len(DEMO_MENTORS)} mentors, pending and accepted mentoring requests")


# (one person's email, the other's email, the messages in order: (sender's email, text))
DEMO_CONVERSATIONS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "grace@demo.peal.app",
        "amara@demo.peal.app",
        (
            ("grace@demo.peal.app", "Hi Amara! I watched your bakery video and loved it."),
            ("amara@demo.peal.app", "Thank you, Grace! That means a lot coming from you."),
            ("grace@demo.peal.app", "Would you like to go over your oven budget together?"),
            ("amara@demo.peal.app", "Yes please! Is Thursday afternoon good for you?"),
            ("grace@demo.peal.app", "Thursday at 3 pm works. I'll send you a link."),
        ),
    ),
    (
        "lucia@demo.peal.app",
        "amara@demo.peal.app",
        (
            ("lucia@demo.peal.app", "Amara, I can help you build a simple order page."),
            ("amara@demo.peal.app", "That would be amazing. Where do we start?"),
        ),
    ),
    (
        "lucia@demo.peal.app",
        "grace@demo.peal.app",
        (("lucia@demo.peal.app", "Grace, thank you for sponsoring the coding club!"),),
    ),
)


async def seed_messages(session: AsyncSession, users: dict[str, User]) -> None:
    """Demo conversations between the demo users, through the messaging service; a
    conversation that already exists is left as it is."""
    from peal.messaging import service as messaging

    for first, second, lines in DEMO_CONVERSATIONS:
        if first not in users or second not in users:
            continue
        conversation, created = await messaging.get_or_create_conversation(
            session, users[first], users[second].id
        )
        if not created:
            continue
        for sender, text in lines:
            await messaging.send_message(session, users[sender], conversation.id, text)
        await commit(session)


async def create_admin(settings: Settings, *, email: str, name: str, password: str) -> None:
    if not 12 <= len(password) <= 128:
        raise SystemExit("an admin password must be 12 to 128 characters long")
    db = Database(settings)
    try:
        async with db.sessionmaker() as session:
            user, created = await ensure_user(
                session,
                PasswordHashing(settings),
                email=email,
                name=name,
                role="admin",
                password=password,
            )
            if not created:
                raise SystemExit(f"a user with email {user.email} already exists")
            await commit(session)
        print(f"admin {user.email} created")
    finally:
        await db.dispose()
